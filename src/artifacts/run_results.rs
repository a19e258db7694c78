//! `target/run_results.json` (dbt's v6 shape) from the results of a run.

use serde_json::{json, Value as Json};

use crate::compile::Compiled;
use crate::parse::ResourceType;
use crate::run::NodeResult;

/// `target/run_results.json` in dbt's v6 shape.
pub fn run_results_json(
    results: &[NodeResult],
    compiled: &Compiled,
    invocation_id: &str,
    elapsed: f64,
    args: Json,
) -> Json {
    let items: Vec<Json> = results
        .iter()
        .map(|r| {
            let n = compiled.manifest.nodes.get(&r.unique_id);
            json!({
                "status": r.status,
                "timing": [],
                "thread_id": "Thread-1",
                "execution_time": r.seconds,
                "adapter_response": r.rows.map(|rows| json!({"_message": r.message, "rows_affected": rows})).unwrap_or(json!({})),
                "message": r.message,
                "failures": r.failures,
                "unique_id": r.unique_id,
                "compiled": n.map(|n| n.compiled_code.is_some()),
                "compiled_code": n.and_then(|n| n.compiled_code.clone()),
                "relation_name": n.filter(|n| !matches!(n.resource_type, ResourceType::Test)).map(|n| format!("\"{}\".\"{}\".\"{}\"", n.database, n.schema, n.alias)),
                "batch_results": null,
            })
        })
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": super::DBT_COMPAT_VERSION,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": invocation_id,
            "env": {},
        },
        "results": items,
        "elapsed_time": elapsed,
        "args": args,
    })
}
