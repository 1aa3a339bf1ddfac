#!/bin/sh
# Entrypoint wrapper of the containers that store a password they are given (PostgreSQL,
# Grafana): refuse to start when one of the named variables is empty, a change-me style
# placeholder (.env.example's values) or shorter than 32 characters, then run the image's
# own entrypoint. Checked before initdb, so a placeholder can never become a stored password.
#
#   sh refuse-placeholders.sh NAME... -- COMMAND [ARG...]
set -eu

MIN_LENGTH=32
refused=0
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  name="$1"
  shift
  case "$name" in
    "" | [0-9]* | *[!A-Za-z0-9_]*) echo "not a variable name: $name" >&2; exit 2 ;;
  esac
  value=""
  eval "value=\${$name-}"
  lowered="$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')"
  case "$lowered" in
    *change-me* | *changeme* | *change_me* | *placeholder* | *your-secret*)
      echo "refusing to start: $name is a placeholder; set a random value in .env" >&2
      refused=1
      ;;
    *)
      if [ "${#value}" -lt "$MIN_LENGTH" ]; then
        echo "refusing to start: $name is shorter than $MIN_LENGTH characters; set a random value in .env" >&2
        refused=1
      fi
      ;;
  esac
done
if [ "$#" -eq 0 ]; then
  echo "usage: refuse-placeholders.sh NAME... -- COMMAND [ARG...]" >&2
  exit 2
fi
shift
[ "$refused" -eq 0 ] || exit 1
exec "$@"
