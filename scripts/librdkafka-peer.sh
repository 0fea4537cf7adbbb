#!/usr/bin/env bash
# A current librdkafka as a test peer: confluent-kafka from PyPI (its wheel bundles librdkafka)
# in a virtualenv outside the repository. Debian's kcat links librdkafka 2.0, which predates
# KIP-368 (re-authentication arrived in librdkafka 2.2); the tests that need a librdkafka that
# re-authenticates use this one.
#
#   scripts/librdkafka-peer.sh env   create the virtualenv if needed; print PYTHON and
#                                    LIBRDKAFKA_VERSION as KEY=VALUE lines
#
# The virtualenv is ${BULWARK_CACHE:-$HOME/.cache/bulwark}/librdkafka/<confluent-kafka version>.
set -euo pipefail

VERSION="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
VENV="${BULWARK_CACHE:-$HOME/.cache/bulwark}/librdkafka/$VERSION"
say() { echo "librdkafka-peer: $*" >&2; }

if [[ "${1:-}" != env ]]; then say "usage: $0 env"; exit 2; fi
if [[ ! -f "$VENV/.complete" ]]; then
  say "installing confluent-kafka $VERSION from PyPI into $VENV (first run only)…"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "confluent-kafka==$VERSION" >&2
  touch "$VENV/.complete"
fi
echo "PYTHON=$VENV/bin/python"
echo "LIBRDKAFKA_VERSION=$("$VENV/bin/python" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')"
