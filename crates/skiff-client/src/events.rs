//! `GET /v1/events`: the watch, as a stream of events.

use std::pin::Pin;

use futures_util::Stream;
use reqwest::Response;
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
        let reader = Reader {
            response,
            buffer: Vec::new(),
            endpoint: call.endpoint,
            done: false,
        };
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        });
        Ok(Box::pin(stream))
    }
}

/// The watch answer being read, one line at a time.
struct Reader {
    response: Response,
    buffer: Vec<u8>,
    endpoint: String,
    done: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if let Some(item) = self.line(&line) {
                    return Some(item);
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => {
                    self.done = true;
                    let rest = std::mem::take(&mut self.buffer);
                    return self.line(&rest);
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(Error::Interrupted {
                        endpoint: self.endpoint.clone(),
                        source,
                    }));
                }
            }
        }
    }

    /// One line: an event, the server's closing error, or nothing for a blank line. Anything
    /// but an event ends the stream.
    fn line(&mut self, line: &[u8]) -> Option<Result<Event, Error>> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let decode = |source| Error::Decode {
            endpoint: self.endpoint.clone(),
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
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// The `compacted` error's detail, if `body` is one.
fn compacted(body: &ErrorBody) -> Option<Compacted> {
    if body.code != "compacted" {
        return None;
    }
    let oldest = body.details.get("oldest")?.as_u64()?;
    Some(Compacted { oldest })
}
