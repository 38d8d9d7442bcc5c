//! Compiled flows by version, beside the versions they are read from.
//! Versions are immutable, so an entry never goes stale; the cache only
//! bounds how many stay in memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{AnyConnection, StoreError, versions};
use crate::flow::CompiledFlow;

/// Versions kept compiled at once; far more than ever run side by side.
const CAPACITY: usize = 64;

#[derive(Default)]
pub struct FlowCache {
    flows: RwLock<HashMap<String, Arc<CompiledFlow>>>,
}

impl FlowCache {
    /// The compiled flow of `version`, loading and compiling it on first use.
    pub fn get(
        &self,
        conn: &mut AnyConnection,
        version: &str,
    ) -> Result<Arc<CompiledFlow>, StoreError> {
        if let Some(flow) = self.read().get(version) {
            return Ok(flow.clone());
        }
        let def = versions::load_flow(conn, version)?;
        if def.steps.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "version {version} has no steps"
            )));
        }
        let flow = Arc::new(CompiledFlow::compile(version, def));
        let mut flows = self.flows.write().unwrap_or_else(|p| p.into_inner());
        if flows.len() >= CAPACITY {
            flows.clear();
        }
        flows.insert(version.to_owned(), flow.clone());
        Ok(flow)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<CompiledFlow>>> {
        self.flows.read().unwrap_or_else(|p| p.into_inner())
    }
}
