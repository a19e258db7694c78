//! Results of small stored views, kept in memory while nothing under them changes.
//!
//! A stored view is planned into every query that reads it, with every view under it, down to
//! the tables. In a project of layered views, a test or model on a view near the top plans,
//! optimizes and executes that whole chain again for every query, and the same chain once more
//! for every other view that shares it. When everything under a view is small (the Delta
//! tables it reads, through every view in between, hold at most [`SMALL_INPUT_BYTES`] of data
//! files), the view is run once and its rows are kept: later queries read them like a table,
//! until the view's file or any table under it changes (the same check that keeps planned
//! views, see `catalog`). The rows are exactly what the view returns; a view whose result would
//! differ between queries (a function that is not immutable: `random()`, `now()`, ...) is not
//! kept, nor one whose result is larger than [`MAX_RESULT_BYTES`] or that fails to run (the
//! failure then shows where the view is read, as before); and none once the kept results hold
//! [`KEPT_BUDGET`] in all.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;

/// Views over at most this many bytes of data files (all tables under them) are kept.
pub(super) const SMALL_INPUT_BYTES: u64 = 16 << 20;
/// A kept result holds at most this much memory.
pub(super) const MAX_RESULT_BYTES: usize = 64 << 20;
/// No more results are kept once those kept hold this much memory in all.
pub(super) const KEPT_BUDGET: usize = 512 << 20;

/// A view whose rows were computed once: read like a table, reported as a view.
#[derive(Debug)]
pub(super) struct ViewResult {
    rows: MemTable,
    definition: String,
}

impl TableProvider for ViewResult {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.definition)
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    fn scan<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        state: &'life1 dyn Session,
        projection: Option<&'life2 Vec<usize>>,
        filters: &'life3 [Expr],
        limit: Option<usize>,
    ) -> Pin<Box<dyn Future<Output = DfResult<Arc<dyn ExecutionPlan>>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        self.rows.scan(state, projection, filters, limit)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.rows.supports_filters_pushdown(filters)
    }
}

/// Every function in the plan (and its subqueries) gives the same result for the same input.
fn immutable(plan: &LogicalPlan) -> bool {
    let mut volatile = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    volatile |= f.func.signature().volatility != Volatility::Immutable;
                }
                Ok(if volatile {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })
        })
    });
    !volatile
}

/// Run the view's plan and keep its rows, if it is immutable, runs, and fits: the provider and
/// the memory it holds.
pub(super) async fn compute(
    state: &SessionState,
    plan: &LogicalPlan,
    definition: &str,
) -> Option<(Arc<dyn TableProvider>, usize)> {
    if !immutable(plan) {
        return None;
    }
    let physical = state.create_physical_plan(plan).await.ok()?;
    let schema = physical.schema();
    let mut stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx()).ok()?;
    let mut batches = Vec::new();
    let mut size = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.ok()?;
        size += batch.get_array_memory_size();
        if size > MAX_RESULT_BYTES {
            return None;
        }
        batches.push(batch);
    }
    let rows = MemTable::try_new(schema, vec![batches]).ok()?;
    let provider = Arc::new(ViewResult {
        rows,
        definition: definition.to_string(),
    });
    Some((provider, size))
}
