"""Native mode of ./run_services.sh: the whole system on this machine, under supervisord.

    python -m tools.native start | stop | status | logs [service] [-f] | check-redis-acl

`start` prepares the datastores (the servers of DATABASE_URL / REDIS_URL, or an embedded
PostgreSQL and Redis), the secrets and the migrations, then runs every service (and
Prometheus/Alertmanager when installed) as a program of one supervisord per RUN_DIR, in
daemon mode, controlled through its XML-RPC socket. Each program's main process is written
to $RUN_DIR/pids/<name>.pid and its output to $RUN_DIR/logs/<name>.log: the fault suite
signals those processes directly. Programs are never restarted behind a test's back
(autorestart=false, docs/decisions.md "Native process manager").
"""

__all__: list[str] = []
