#!/usr/bin/env bash
# record.sh captures the replies of a real Drill 1.22.0 Drillbit that the
# unit tests serve from httptest servers. Run it from agent/drill/ against a
# no-auth Drillbit:  bash testdata/record.sh http://127.0.0.1:8047
set -euo pipefail
U=${1:?usage: record.sh DRILL_URL}
cd "$(dirname "$0")"
query() { # query FILE SQL [extra JSON fields]
  jq -n --arg q "$2" "{query:\$q,queryType:\"SQL\",autoLimit:\"0\",options:{\"drill.exec.http.rest.errors.verbose\":\"true\",\"exec.errors.verbose\":\"true\"}} + (${3:-{\}})" |
    curl -sS -H 'Content-Type: application/json' -d @- -o "$1" -w '%{http_code}\n' "$U/query.json"
}
query query_ok.json "SELECT * FROM (VALUES (CAST(9223372036854775807 AS BIGINT), CAST(0.1 AS DOUBLE), CAST('it''s' AS VARCHAR(4)), TRUE, CAST(NULL AS VARCHAR)), (CAST(-9223372036854775808 AS BIGINT), CAST(1E300 AS DOUBLE), CAST('' AS VARCHAR(1)), FALSE, CAST(NULL AS VARCHAR))) AS t(i, f, s, b, n)"
query query_failed.json "SELECT * FROM no_such_table"
query query_500.json "SELECT 1" '{defaultSchema:"no_such.schema"}'
curl -sS -o status.json "$U/status.json"
curl -sS -o cluster.json "$U/cluster.json"
curl -sS -o storage_dfs.json "$U/storage/dfs.json"
curl -sS -o storage_missing.json "$U/storage/no_such_plugin.json"
curl -sS -o storage_saved.json -H 'Content-Type: application/json' -d @storage_dfs.json "$U/storage/dfs.json"
printf '' > empty
