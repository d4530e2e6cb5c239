"""xAPI resources, one module each; `common` holds what every resource shares."""
