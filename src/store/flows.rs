//! Compiled flows by version, beside the versions they are read from.
//! Versions are immutable, so an entry never goes stale; the cache only
//! bounds how many stay in memory, and how many bytes (docs/src/configuration.md
//! "Configuration", `SCENEFLOW_FLOW_CACHE_BYTES`): a flow is as large as its
//! workbook's texts. `quick_cache` keeps them, weighed by [`footprint`].

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::{AnyConnection, StoreError, versions};
use crate::flow::{CompiledFlow, FlowDef};

/// Versions kept compiled at once; far more than ever run side by side.
const CAPACITY: usize = 64;

/// The default byte budget of compiled flows.
pub const DEFAULT_BYTES: u64 = 256 << 20;

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, (Arc<CompiledFlow>, u64)> for ByBytes {
    fn weight(&self, version: &String, kept: &(Arc<CompiledFlow>, u64)) -> u64 {
        version.len() as u64 + kept.1
    }
}

pub struct FlowCache {
    flows: Cache<String, (Arc<CompiledFlow>, u64), ByBytes>,
}

impl Default for FlowCache {
    fn default() -> Self {
        FlowCache::with_budget(DEFAULT_BYTES)
    }
}

impl FlowCache {
    /// At most [`CAPACITY`] flows and `bytes` bytes (by [`footprint`]).
    pub fn with_budget(bytes: u64) -> FlowCache {
        FlowCache {
            flows: Cache::with_weighter(CAPACITY, bytes.max(1), ByBytes),
        }
    }

    /// The compiled flow of `version`, loading and compiling it on first use.
    pub fn get(
        &self,
        conn: &mut AnyConnection,
        version: &str,
    ) -> Result<Arc<CompiledFlow>, StoreError> {
        if let Some(flow) = self.cached(version) {
            return Ok(flow);
        }
        let def = versions::load_flow(conn, version)?;
        if def.steps.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "version {version} has no steps"
            )));
        }
        let bytes = footprint(&def);
        let flow = Arc::new(CompiledFlow::compile(version, def));
        // A flow over its shard's share of the budget (quick_cache keeps at
        // least two shards, so about half) is not kept: compiled again on
        // use; the budget's floor (64 MiB) is far above any flow's size.
        self.flows.insert(version.to_owned(), (flow.clone(), bytes));
        Ok(flow)
    }

    /// The compiled flow of `version` if it is already compiled.
    pub fn cached(&self, version: &str) -> Option<Arc<CompiledFlow>> {
        self.flows.get(version).map(|(flow, _)| flow)
    }
}

/// Bytes a compiled flow takes, estimated: its definition's JSON text
/// twice (the definition and the indexes by key), plus a few hundred bytes
/// of structure a scene and a choice. Measured once, when it is compiled.
pub fn footprint(def: &FlowDef) -> u64 {
    let text = serde_json::to_vec(&(&def.steps, &def.scenes, &def.choices)).map_or(0, |t| t.len());
    (2 * text + 384 * (def.scenes.len() + def.choices.len())) as u64
}
