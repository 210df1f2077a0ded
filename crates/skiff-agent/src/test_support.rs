//! Tasks for unit tests, made from compose YAML as the control plane would send them.

use skiff_proto::agent::TaskState;

use crate::desired::{DesiredTask, TaskSlot, Want};

/// The service `web` of `services:\n  web:\n<service_yaml indented>`.
pub fn spec(service_yaml: &str) -> skiff_api::app::ServiceSpec {
    let body: String = service_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "services:\n  web:\n{body}volumes:\n  data: {{}}\n  d: {{}}\n\
         secrets:\n  token: {{external: true}}\n"
    );
    let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", &yaml);
    let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
    options.project_name = Some("shop".to_owned());
    let app = skiff_manifest::load(&options, &loader)
        .unwrap_or_else(|d| panic!("{d}"))
        .spec;
    app.services["web"].clone()
}

/// Replica `slot` of `web` in `dev/shop`, wanted running, with the spec of `service_yaml`.
pub fn task(id: &str, slot: u32, service_yaml: &str) -> DesiredTask {
    DesiredTask {
        id: id.into(),
        env: "dev".into(),
        app: "shop".into(),
        service: "web".into(),
        slot: TaskSlot::Replica(slot),
        spec_revision: 7,
        want: Want::Running,
        spec: spec(service_yaml),
        observed: TaskState::Assigned,
        restart_count: 0,
        files: Vec::new(),
        files_error: None,
    }
}
