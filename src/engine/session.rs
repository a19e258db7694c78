//! The DataFusion session an [`Engine`](super::Engine) runs in: settings, SQL functions, the
//! Delta planner, and the runtime that bounds memory.
//!
//! Every query of one engine draws from one memory pool of `memory_limit` bytes. Sorts,
//! aggregates and joins that outgrow their share spill to files under `temp_directory`; an
//! operator that cannot spill fails with DataFusion's `ResourcesExhausted` error, which the
//! engine reports as [`codes::OUT_OF_MEMORY`](super::codes::OUT_OF_MEMORY). One engine serves
//! every model of a command, so models running in parallel share the pool.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;

use super::{codes, functions};
use crate::diagnostics::{io_error, Diagnostic, Error, Result};

/// How an engine may use the machine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The memory pool shared by every query of the engine, in bytes.
    pub memory_limit: usize,
    /// Where sorts, aggregates and joins spill (created if missing). DataFusion makes a
    /// `datafusion-*` directory inside it, removed when the engine is dropped.
    pub temp_directory: PathBuf,
}

/// The consumers named in an out-of-memory error (the largest first).
const TOP_CONSUMERS: NonZeroUsize = NonZeroUsize::new(5).unwrap();

/// The session: default catalog and schema, `information_schema`, `DATAFUSION_*` settings, the
/// memory pool and spill directory, deltalake's planner and weir's SQL functions.
pub(super) fn build_context(
    database: &str,
    default_schema: &str,
    options: &EngineOptions,
) -> Result<SessionContext> {
    // DataFusion's own settings can be tuned with `DATAFUSION_*` environment variables
    // (e.g. `DATAFUSION_EXECUTION_BATCH_SIZE`), as in DataFusion's CLI.
    let base = SessionConfig::from_env().map_err(|e| {
        Error::from(Diagnostic::error(
            codes::SQL,
            format!(
                "a DATAFUSION_* environment variable is not valid: {}",
                e.strip_backtrace()
            ),
        ))
    })?;
    let mut config = base
        .with_default_catalog_and_schema(database, default_schema)
        .with_information_schema(true);
    // Partitions per query (default: the number of CPUs); for measuring, and for runs of
    // many small models where the DAG's workers already use every core.
    if let Some(n) = std::env::var("WEIR_TARGET_PARTITIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        config = config.with_target_partitions(n);
    }
    // A sort reserves this much per partition up front, to merge its sorted batches when it
    // spills and at the end (DataFusion's default is 10 MiB, whatever the pool). The merge
    // holds the sort keys of the batches in row form; with a string key that is a good part of
    // the batches, and a sort whose reservation is too small for it fails instead of spilling.
    // So it is a share of the pool: a quarter of it split over the partitions, which leaves
    // room for a few sorts at once (unless DATAFUSION_EXECUTION_SORT_SPILL_RESERVATION_BYTES
    // says otherwise).
    if std::env::var_os("DATAFUSION_EXECUTION_SORT_SPILL_RESERVATION_BYTES").is_none() {
        let execution = &mut config.options_mut().execution;
        execution.sort_spill_reservation_bytes =
            options.memory_limit / (4 * execution.target_partitions.max(1));
    }
    let dir = &options.temp_directory;
    std::fs::create_dir_all(dir).map_err(|e| io_error("create the temp directory", dir, e))?;
    // FairSpillPool: spilling operators (sorts, aggregates, joins) each get a fair share of
    // what the non-spilling ones leave, so parallel models all make progress.
    let pool = TrackConsumersPool::new(FairSpillPool::new(options.memory_limit), TOP_CONSUMERS);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
        )
        .build_arc()
        .map_err(|e| {
            Error::from(Diagnostic::error(
                codes::SQL,
                format!(
                    "cannot set up the query runtime (temp directory {}): {}",
                    dir.display(),
                    e.strip_backtrace()
                ),
            ))
        })?;
    // Delta operations plan their own extension nodes (metrics, validation) with the
    // session they are given: it needs deltalake's query planner.
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(DeltaPlanner::new())
        .build();
    functions::register_all(&mut state).map_err(|e| {
        Error::from(Diagnostic::internal(format!(
            "cannot register SQL functions: {}",
            e.strip_backtrace()
        )))
    })?;
    Ok(SessionContext::new_with_state(state))
}
