//! What every command that talks to the control plane shares: where the servers are, the token,
//! how long to retry, the async runtime, and how the API's errors are shown.

use std::future::Future;

use anyhow::Context;
use skiff_client::{split_servers, Client, Error, DEFAULT_SERVER};

/// `--server`, `--token` and `--retry-for`, taken by every command that talks to the cluster
/// (after the subcommand too: `skiff env create qa --server …`).
#[derive(clap::Args, Debug, Clone)]
pub struct RemoteArgs {
    /// The control plane's servers, `host:port`; comma-separated or repeated. A call goes to
    /// the next one when a server cannot be reached or has no leader.
    #[arg(
        long = "server",
        env = "SKIFF_SERVER",
        value_name = "HOST:PORT",
        default_value = DEFAULT_SERVER,
        global = true
    )]
    servers: Vec<String>,
    /// The API token [default: none].
    #[arg(
        long,
        env = "SKIFF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    token: Option<String>,
    /// How long to keep retrying while no server can answer (unreachable, no leader).
    #[arg(
        long,
        env = "SKIFF_RETRY_FOR",
        value_name = "DURATION",
        default_value = "15s",
        global = true
    )]
    retry_for: skiff_api::Duration,
}

impl RemoteArgs {
    /// The client these arguments describe. Without a token, a call to the default address
    /// uses the admin token of the local `skiff dev` cluster, if one keeps its data in the
    /// default place (or `SKIFF_DEV_DIR`): the dev cluster is found without flags.
    pub fn client(&self) -> anyhow::Result<Client> {
        let servers: Vec<String> = self.servers.iter().flat_map(|s| split_servers(s)).collect();
        let token = self
            .token
            .clone()
            .or_else(|| (servers == [DEFAULT_SERVER]).then(dev_token).flatten());
        let client = Client::new(servers, token).map_err(api_error)?;
        Ok(client.with_retry_deadline(self.retry_for.to_std()))
    }
}

/// Where `skiff dev` keeps its data unless told otherwise.
pub const DEFAULT_DEV_DIR: &str = "/var/lib/skiff-dev";

/// The data directory of the local dev cluster: `SKIFF_DEV_DIR`, else the default.
pub fn dev_dir() -> std::path::PathBuf {
    std::env::var_os("SKIFF_DEV_DIR")
        .map(Into::into)
        .unwrap_or_else(|| DEFAULT_DEV_DIR.into())
}

/// The admin token of the local dev cluster, when there is one this user may read.
fn dev_token() -> Option<String> {
    let file = dev_dir()
        .join("server")
        .join(skiff_server::ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(file).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Runs `work` with the client of `remote` on a single-threaded runtime (a CLI call is one
/// request after another), turning the client's errors into the CLI's messages.
pub fn run<T, F, Fut>(remote: &RemoteArgs, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let client = remote.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(work(client)).map_err(api_error)
}

/// The client's error as the CLI prints it after `skiff: error: `: the server's message and
/// its code (`forbidden`, `not_found`, … as docs/api.md lists them), then a refused manifest's
/// problems one per line.
pub fn api_error(e: Error) -> anyhow::Error {
    let mut text = match (&e, e.code()) {
        (Error::Api { .. }, Some(code)) => format!("{e} ({code})"),
        _ => e.to_string(),
    };
    for problem in e.problems() {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    anyhow::Error::msg(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_api::v1::ErrorBody;
    use skiff_client::StatusCode;

    use super::*;

    #[test]
    fn api_errors_read_as_message_code_and_problems() {
        let e = Error::Api {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                code: "invalid_manifest".into(),
                message: "the manifest has 2 problems".into(),
                details: json!({"problems": [
                    {"location": "services.web.image", "message": "required"},
                    {"location": "", "message": "no services"},
                ]}),
            },
        };
        assert_eq!(
            api_error(e).to_string(),
            "the manifest has 2 problems (invalid_manifest)\n  services.web.image: required\n  \
             no services"
        );
        let e = Error::Unreachable {
            tried: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            last: "127.0.0.1:2: cannot connect".into(),
        };
        assert!(api_error(e)
            .to_string()
            .contains("tried 127.0.0.1:1, 127.0.0.1:2"));
    }
}
