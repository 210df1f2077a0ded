//! openraft's storage conformance suite against the sled stores, a fresh directory per case.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use skiff_store::testing::KvStateMachine;
use skiff_store::{LogStore, NodeId, StateMachineStore, Store, TypeConfig};
use tempfile::TempDir;

struct SledBuilder;

impl
    StoreBuilder<
        TypeConfig<KvStateMachine>,
        LogStore<KvStateMachine>,
        StateMachineStore<KvStateMachine>,
        TempDir,
    > for SledBuilder
{
    async fn build(
        &self,
    ) -> Result<
        (
            TempDir,
            LogStore<KvStateMachine>,
            StateMachineStore<KvStateMachine>,
        ),
        StorageError<NodeId>,
    > {
        let dir = TempDir::new().expect("temp dir");
        let (log, sm) = Store::open(dir.path()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(SledBuilder).expect("the sled store passes openraft's suite");
}
