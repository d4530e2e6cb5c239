"""Where the processors run: the embedded runner over the store's own log (`local`), or the
faust app over Kafka (`faust_app`, with its transport); both apply the same reducers."""
