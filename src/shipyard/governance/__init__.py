"""Who may do what, and the record of what was done: scopes and roles, API keys, the
hash-chained audit trail, artifact signing. Pure logic; storage lives in ``registry/sql``."""
