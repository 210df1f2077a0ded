//! Streamed answers of newline-delimited JSON (the watch, task logs): read one line at a time
//! as the chunks arrive, each line turned into an item by the endpoint's own parser.

use futures_util::Stream;
use reqwest::Response;

use crate::Error;

/// Turns one line into an item: `None` to skip it (a blank line), an error to end the stream
/// with it.
pub(crate) type ParseLine<T> = fn(&[u8], &str) -> Option<Result<T, Error>>;

/// The items of `response`, read line by line with `parse`; the stream ends after the first
/// error (a bad line, the server's closing error, a broken connection).
pub(crate) fn stream<T>(
    response: Response,
    endpoint: String,
    parse: ParseLine<T>,
) -> impl Stream<Item = Result<T, Error>> {
    let lines = Lines {
        response,
        buffer: Vec::new(),
        endpoint,
        done: false,
        parse,
    };
    futures_util::stream::unfold(lines, |mut lines| async move {
        let item = lines.next().await?;
        Some((item, lines))
    })
}

/// An answer being read, one line at a time.
struct Lines<T> {
    response: Response,
    buffer: Vec<u8>,
    endpoint: String,
    done: bool,
    parse: ParseLine<T>,
}

impl<T> Lines<T> {
    async fn next(&mut self) -> Option<Result<T, Error>> {
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

    fn line(&mut self, line: &[u8]) -> Option<Result<T, Error>> {
        let item = (self.parse)(line, &self.endpoint)?;
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}
