//! `GET /v1/events`: the watch, as a stream of events.

use std::pin::Pin;

use futures_util::Stream;
use skiff_api::v1::ErrorBody;
use skiff_core::{Compacted, Event};

use crate::transport::Call;
use crate::{Client, Error};

/// The events of a watch, in revision order, until the server ends it. An `Err` is the last
/// item: [`Error::Compacted`] when the watcher fell too far behind (list again, watch from the
/// listing's revision), [`Error::WatchEnded`] or [`Error::Interrupted`] otherwise (watch again
/// from the last event's revision).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>;

impl Client {
    /// `GET /v1/events?from=REV[&prefix=P]`: every change after revision `from` (of keys
    /// starting with `prefix`, such as `/apps/dev/`), then the live ones. Fails with
    /// [`Error::Compacted`] when `from` is older than the history the server keeps.
    ///
    /// Failover applies until the stream starts; a stream that breaks is not resumed (watch
    /// again from the last revision seen, on any server: each keeps its own history).
    pub async fn events(&self, from: u64, prefix: Option<&str>) -> Result<EventStream, Error> {
        let mut call = Call::get(&["v1", "events"]).query("from", from.to_string());
        if let Some(prefix) = prefix {
            call = call.query("prefix", prefix);
        }
        let response = self.open(&call).await.map_err(|e| match e {
            Error::Api { body, .. } if compacted(&body).is_some() => {
                Error::Compacted(compacted(&body).expect("checked"))
            }
            e => e,
        })?;
        Ok(Box::pin(crate::ndjson::stream(
            response,
            call.endpoint,
            parse_event,
        )))
    }
}

/// One line of the watch: an event, the server's closing error, or nothing for a blank line.
/// Anything but an event ends the stream.
fn parse_event(line: &[u8], endpoint: &str) -> Option<Result<Event, Error>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let decode = |source| Error::Decode {
        endpoint: endpoint.to_owned(),
        source,
    };
    let item = serde_json::from_slice::<serde_json::Value>(line)
        .map_err(decode)
        .and_then(|value| match value.get("error") {
            Some(error) => {
                let body: ErrorBody = serde_json::from_value(error.clone()).map_err(decode)?;
                Err(match compacted(&body) {
                    Some(c) => Error::Compacted(c),
                    None => Error::WatchEnded { body },
                })
            }
            None => serde_json::from_value::<Event>(value).map_err(decode),
        });
    Some(item)
}

/// The `compacted` error's detail, if `body` is one.
fn compacted(body: &ErrorBody) -> Option<Compacted> {
    if body.code != "compacted" {
        return None;
    }
    let oldest = body.details.get("oldest")?.as_u64()?;
    Some(Compacted { oldest })
}
