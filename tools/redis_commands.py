"""The Redis commands the services send: the one list both ACL set-ups grant.

docker-compose.yml gives each service's Redis user exactly `COMMANDS` (checked by
tools.compose_rules); native mode (tools.native.redis_acl) creates the users with `COMMANDS`
and `NATIVE_ONLY`. A new command in the code needs a line here and one in docker-compose.yml.

- the JSON caches and the denylist: GET, MGET (a product's two cache parts at once), SET,
  DEL, EXISTS;
- scripts (EVALSHA, loaded with SCRIPT LOAD): the rate limiter's window (INCR, PTTL,
  PEXPIRE) and the product cache's versioned write (GET, SET);
- the health check's PING, and redis-py naming its connections (CLIENT SETINFO).
"""

__all__ = ["COMMANDS", "NATIVE_ONLY"]

COMMANDS = (
    "ping",
    "get",
    "mget",
    "set",
    "del",
    "exists",
    "incr",
    "pttl",
    "pexpire",
    "evalsha",
    "script|load",
    "client|setinfo",
)
# Native mode runs one server with a database per service (SELECT); its newer redis-py
# handshake may also send CLIENT MAINT_NOTIFICATIONS, and EVAL runs a script not loaded yet.
NATIVE_ONLY = ("select", "eval", "client|maint_notifications")
