#!/usr/bin/env bash
# `make test`: the whole suite straight to PostgreSQL, then the SCIM API, activity pipeline, isolation,
# concurrency, fair-share, stranger and administrators' tests (sessions, keys, OIDC states: the digest lookups)
# again with web and workers reaching PostgreSQL through a PgBouncer in transaction mode that ops/pgbouncer.py
# starts for this run (own port, config in a temporary directory). Arguments go to both passes.
set -euo pipefail
VENV="${VENV:-.venv}"
"$VENV/bin/pytest" -q "$@"
through_pgbouncer=(
  tests/integration/test_scim_contract.py tests/integration/test_scim_queries.py
  tests/integration/test_scim_bad_input.py tests/integration/test_scim_hostile_input.py
  tests/integration/test_group_members.py tests/integration/test_activity_secrets.py
  tests/integration/test_activity.py tests/integration/test_activity_faults.py
  tests/integration/test_tenancy.py tests/integration/test_session_scope.py tests/integration/test_least_privilege.py tests/integration/test_tokens.py
  tests/integration/test_concurrency.py tests/integration/test_web_processes.py
  tests/integration/test_activity_poison.py tests/integration/test_fairness.py tests/integration/test_strangers.py
  tests/integration/test_admins.py tests/integration/test_oidc.py tests/integration/test_tenant_statements.py
  tests/integration/test_events.py tests/integration/test_host_api.py tests/integration/test_webhook_pipeline.py
  tests/integration/test_tenant_transaction_cancel.py tests/integration/test_patch_snapshots.py
)
echo "make test: again through PgBouncer (transaction mode): ${through_pgbouncer[*]##*/}"
"$VENV/bin/python" -m ops.pgbouncer run --export test \
  --database-url "${SCIMHUB_TEST_DATABASE_URL:-postgresql://127.0.0.1:5432/scimhub_test}" \
  -- "$VENV/bin/pytest" -q -p no:cacheprovider "${through_pgbouncer[@]}" "$@"
