//! `skiff node ls|drain|pause|activate|label`: the cluster's nodes as an operator sees and
//! steers them (the agent registers them; see docs/orchestration.md).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use skiff_core::objects::Availability;
use skiff_core::plan::NodeUpdate;
use skiff_core::Object;

use super::get::node_row;
use super::listing::{self, row, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff node`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: NodeCommand,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum NodeCommand {
    /// List the nodes.
    Ls {
        /// How to print the listing.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value_t,
            value_name = "FORMAT"
        )]
        output: Format,
    },
    /// Move every task off the node and place no new ones there.
    Drain {
        /// The node's id.
        node: String,
    },
    /// Place no new tasks on the node; the running ones stay.
    Pause {
        /// The node's id.
        node: String,
    },
    /// Let the scheduler use the node again.
    Activate {
        /// The node's id.
        node: String,
    },
    /// Set labels (`KEY=VALUE`) and remove them (`KEY-`), as placement constraints see them.
    Label {
        /// The node's id.
        node: String,
        /// `KEY=VALUE` to set, `KEY-` to remove.
        #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
        labels: Vec<String>,
    },
}

/// Runs `skiff node`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (node, update) = match &args.command {
        NodeCommand::Ls { output } => return list(&args.remote, *output),
        NodeCommand::Drain { node } => (node, availability(Availability::Drain)),
        NodeCommand::Pause { node } => (node, availability(Availability::Pause)),
        NodeCommand::Activate { node } => (node, availability(Availability::Active)),
        NodeCommand::Label { node, labels } => (
            node,
            NodeUpdate {
                availability: None,
                labels: parse_labels(labels)?,
            },
        ),
    };
    let written = remote::run(&args.remote, |client| async move {
        client.update_node(node, &update).await
    })?;
    println!("updated node {node} (revision {})", written.revision);
    Ok(ExitCode::SUCCESS)
}

fn availability(availability: Availability) -> NodeUpdate {
    NodeUpdate {
        availability: Some(availability),
        labels: BTreeMap::new(),
    }
}

/// `KEY=VALUE` sets, `KEY-` removes (as `kubectl label` reads them).
fn parse_labels(args: &[String]) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let mut labels = BTreeMap::new();
    for arg in args {
        let (key, value) = match (arg.split_once('='), arg.strip_suffix('-')) {
            (Some((k, v)), _) => (k, Some(v.to_owned())),
            (None, Some(k)) => (k, None),
            (None, None) => bail!("label {arg:?}: write KEY=VALUE to set it or KEY- to remove it"),
        };
        if key.is_empty() {
            bail!("label {arg:?}: the key is empty");
        }
        labels.insert(key.to_owned(), value);
    }
    Ok(labels)
}

fn list(remote: &RemoteArgs, output: Format) -> anyhow::Result<ExitCode> {
    let list = remote::run(remote, |client| async move { client.list_nodes().await })?;
    let header = row![
        "ID",
        "NAME",
        "ADDRESS",
        "STATUS",
        "AVAILABILITY",
        "CPUS",
        "MEMORY",
        "SUBNET",
        "LABELS"
    ];
    let rows = list.items.iter().filter_map(|r| match &r.object {
        Object::Node(node) => {
            let mut cells = node_row(node);
            cells.push(node.pod_subnet.clone().unwrap_or_else(|| "-".into()));
            let labels: Vec<String> = node
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            cells.push(if labels.is_empty() {
                "-".into()
            } else {
                labels.join(",")
            });
            Some(cells)
        }
        _ => None,
    });
    listing::print(
        output,
        &list.items,
        std::iter::once(header).chain(rows).collect(),
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_set_with_equals_and_removed_with_a_dash() {
        let got = parse_labels(&["zone=a".into(), "disk-".into(), "empty=".into()]).unwrap();
        assert_eq!(
            got,
            [
                ("disk".to_owned(), None),
                ("empty".to_owned(), Some(String::new())),
                ("zone".to_owned(), Some("a".to_owned())),
            ]
            .into()
        );
        for bad in ["zone", "=a", "-"] {
            let e = parse_labels(&[bad.into()]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("label {bad:?}")), "{e}");
        }
    }
}
