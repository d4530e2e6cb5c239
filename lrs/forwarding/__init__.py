"""Statement forwarding: rules that send matching stored statements to another LRS or to a
signed webhook, in order per destination, at least once.

- rules: a rule from an API/CLI request (validated, errors naming the field) and its view;
- matching, signing: pure (which statements a rule takes; the webhook signature);
- delivery: the loop at the edge, one more consumer of the store's log with a durable
  offset per rule (lrs.ports.forwarding), run beside the processors in both modes;
- metrics: the delivery state as Prometheus lines for /metrics.

`lrs forwarding ...` is lrs.forwarding_cli, in the CLI layer with the other commands.
"""
