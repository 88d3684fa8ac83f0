//! The response body: whole, or cut on purpose after its first half.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// How long a cut body waits after its first half before failing, so that the head and the
/// first half are flushed to the socket before the connection is closed.
const CUT_PAUSE: Duration = Duration::from_millis(5);

/// A response body.
#[derive(Debug)]
pub(crate) struct MockBody {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Cut {
        first: Option<Bytes>,
        total: u64,
        pause: Pin<Box<Sleep>>,
    },
}

impl MockBody {
    /// The whole body.
    pub(crate) fn full(bytes: Bytes) -> Self {
        MockBody {
            inner: Inner::Full(Some(bytes)),
        }
    }

    /// A body that announces its full length, sends its first half, then fails (hyper then
    /// closes the connection).
    pub(crate) fn cut(bytes: Bytes) -> Self {
        let total = bytes.len() as u64;
        let first = bytes.slice(..bytes.len() / 2);
        MockBody {
            inner: Inner::Cut {
                first: Some(first),
                total,
                pause: Box::pin(tokio::time::sleep(CUT_PAUSE)),
            },
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Cut { first, pause, .. } => {
                if let Some(first) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                }
                match pause.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mock-llm: response body cut on purpose",
                    )))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Cut { total, .. } => SizeHint::with_exact(*total),
        }
    }
}
