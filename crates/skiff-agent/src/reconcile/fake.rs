//! A fake [`NodeEngine`] for unit tests of the runner: containers in memory, every operation
//! recorded, exits and healthcheck results set by the test.

use std::sync::Mutex;

use skiff_engine::container::ContainerConfig;
use skiff_engine::network::service::ServicePort;

use super::engine::{
    ContainerState, ContainerView, ExecResult, ImageSource, NodeEngine, NodeError,
};

/// The fake engine; tests hold it in an `Arc` and hand the reconciler a clone.
#[derive(Debug, Default)]
pub struct FakeEngine {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    containers: Vec<ContainerView>,
    next: u32,
    ops: Vec<String>,
    /// Exit code of every healthcheck exec.
    health_exit: i32,
    /// Every list of service ports set, in order.
    service_ports: Vec<Vec<ServicePort>>,
}

impl FakeEngine {
    /// Every operation so far (`create web`, `start c1`, …).
    pub fn ops(&self) -> Vec<String> {
        self.state.lock().unwrap().ops.clone()
    }

    /// The containers.
    pub fn containers(&self) -> Vec<ContainerView> {
        self.state.lock().unwrap().containers.clone()
    }

    /// Makes container `id`'s process end with `code`.
    pub fn exit(&self, id: &str, code: i32) {
        let mut s = self.state.lock().unwrap();
        let c = s.containers.iter_mut().find(|c| c.id == id).unwrap();
        c.state = ContainerState::Exited;
        c.exit_code = Some(code);
        c.pid = None;
    }

    /// Every list of service ports set so far.
    pub fn service_ports(&self) -> Vec<Vec<ServicePort>> {
        self.state.lock().unwrap().service_ports.clone()
    }

    /// Makes every healthcheck exit with `code`.
    pub fn set_health_exit(&self, code: i32) {
        self.state.lock().unwrap().health_exit = code;
    }

    fn edit<T>(
        &self,
        op: &str,
        id: &str,
        f: impl FnOnce(&mut ContainerView) -> T,
    ) -> Result<T, NodeError> {
        let mut s = self.state.lock().unwrap();
        s.ops.push(format!("{op} {id}"));
        match s.containers.iter_mut().find(|c| c.id == id) {
            Some(c) => Ok(f(c)),
            None => Err(NodeError {
                op: "fake",
                subject: id.to_owned(),
                message: "no such container".into(),
            }),
        }
    }
}

impl NodeEngine for FakeEngine {
    fn list(&self) -> Result<Vec<ContainerView>, NodeError> {
        Ok(self.containers())
    }

    fn ensure_image(&self, _image: &str) -> Result<ImageSource, NodeError> {
        Ok(ImageSource::Local)
    }

    fn create(&self, config: ContainerConfig) -> Result<ContainerView, NodeError> {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let view = ContainerView {
            id: format!("c{}", s.next),
            name: config.name.unwrap_or_default(),
            labels: config.labels,
            state: ContainerState::Created,
            ip: Some(format!("10.0.0.{}", s.next)),
            pid: None,
            started_at: None,
            exit_code: None,
        };
        s.ops.push(format!("create {}", view.id));
        s.containers.push(view.clone());
        Ok(view)
    }

    fn start(&self, id: &str) -> Result<ContainerView, NodeError> {
        self.edit("start", id, |c| {
            c.state = ContainerState::Running;
            c.pid = Some(100);
            c.exit_code = None;
            c.clone()
        })
    }

    fn stop(&self, id: &str) -> Result<(), NodeError> {
        self.edit("stop", id, |c| {
            if c.state == ContainerState::Running {
                c.state = ContainerState::Exited;
                c.exit_code = Some(143);
            }
        })
    }

    fn remove(&self, id: &str) -> Result<(), NodeError> {
        self.edit("remove", id, |_| ())?;
        self.state.lock().unwrap().containers.retain(|c| c.id != id);
        Ok(())
    }

    fn exec(
        &self,
        id: &str,
        _argv: &[String],
        _timeout: std::time::Duration,
    ) -> Result<ExecResult, NodeError> {
        let code = self.state.lock().unwrap().health_exit;
        self.edit("exec", id, |_| ExecResult {
            exit_code: Some(code),
            output: format!("exit {code}"),
        })
    }

    fn set_service_ports(&self, ports: &[ServicePort]) -> Result<(), NodeError> {
        self.state
            .lock()
            .unwrap()
            .service_ports
            .push(ports.to_vec());
        Ok(())
    }
}
