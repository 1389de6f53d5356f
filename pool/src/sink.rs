//! Where a render's output goes: the whole HTML at once, or chunks into a
//! bounded channel that the HTTP side streams (or collects). A slow reader
//! fills the channel; the render's pump then waits until there is room
//! (backpressure). A reader that goes away closes the channel; the worker
//! sees that and cancels the render.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::RenderError;
use crate::job::LeaveOnDrop;

/// Chunks a stream may have in its channel, not yet taken by the reader.
pub(crate) const CHANNEL_CHUNKS: usize = 32;

/// What a render produced.
pub enum RenderBody {
    /// The whole HTML (a string or a promise of one).
    Html(String),
    /// The chunks of a stream, as the render emits them.
    Stream(RenderStream),
}

/// The chunks of a streamed render. An `Err` item means the render failed
/// after its first byte; the stream then ends without completing.
pub struct RenderStream {
    chunks: mpsc::Receiver<Result<Bytes, RenderError>>,
    complete: Arc<AtomicBool>,
    /// Tells the worker when the stream is dropped (harmless once complete).
    _leave: Option<LeaveOnDrop>,
}

impl RenderStream {
    pub(crate) fn leaving(mut self, leave: LeaveOnDrop) -> Self {
        self._leave = Some(leave);
        self
    }

    /// The next chunk; None once the stream ended.
    pub async fn next(&mut self) -> Option<Result<Bytes, RenderError>> {
        self.chunks.recv().await
    }

    /// True once the render's stream closed normally (every chunk was
    /// delivered). A stream that ended otherwise is incomplete.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Reads the whole stream as text.
    pub async fn collect(mut self) -> Result<String, RenderError> {
        let mut html = Vec::new();
        while let Some(chunk) = self.next().await {
            html.extend_from_slice(&chunk?);
        }
        if !self.is_complete() {
            return Err(RenderError::WorkerLost);
        }
        Ok(String::from_utf8(html)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// The worker's end of a streamed render.
pub(crate) struct StreamSink {
    tx: mpsc::Sender<Result<Bytes, RenderError>>,
    complete: Arc<AtomicBool>,
    /// Chunks produced while the channel was full, oldest first.
    outbox: VecDeque<Bytes>,
    /// Bytes produced so far (the output limit counts streamed bytes).
    pub produced: usize,
    /// A wake-up for channel room is registered.
    pub awaiting_room: bool,
}

impl StreamSink {
    pub fn new() -> (Self, RenderStream) {
        let (tx, chunks) = mpsc::channel(CHANNEL_CHUNKS);
        let complete = Arc::new(AtomicBool::new(false));
        let stream = RenderStream {
            chunks,
            complete: Arc::clone(&complete),
            _leave: None,
        };
        let sink = Self {
            tx,
            complete,
            outbox: VecDeque::new(),
            produced: 0,
            awaiting_room: false,
        };
        (sink, stream)
    }

    /// Queues a chunk: into the channel when it has room and nothing is
    /// waiting before it, else into the outbox.
    pub fn push(&mut self, chunk: Bytes) {
        self.produced += chunk.len();
        if !self.outbox.is_empty() {
            self.outbox.push_back(chunk);
            return;
        }
        // Anything but a full channel means the chunk is gone: sent, or
        // the reader left (the worker notices and cancels the render).
        if let Err(mpsc::error::TrySendError::Full(Ok(chunk))) = self.tx.try_send(Ok(chunk)) {
            self.outbox.push_back(chunk);
        }
    }

    /// Chunks waiting for room in the channel.
    pub fn backlog(&self) -> usize {
        self.outbox.len()
    }

    /// Moves waiting chunks into the channel while it has room.
    pub fn flush(&mut self) {
        while let Some(chunk) = self.outbox.pop_front() {
            match self.tx.try_send(Ok(chunk)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Ok(chunk))) => {
                    self.outbox.push_front(chunk);
                    return;
                }
                Err(_) => {
                    self.outbox.clear();
                    return;
                }
            }
        }
    }

    /// A sender to wait on (for room, or for the reader to go away).
    pub fn sender(&self) -> mpsc::Sender<Result<Bytes, RenderError>> {
        self.tx.clone()
    }

    /// The reader went away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Every chunk was delivered and the stream closed normally.
    pub fn complete(self) {
        self.complete.store(true, Ordering::Release);
    }

    /// Ends the stream with `error` (after its first byte).
    pub fn fail(self, error: RenderError) {
        let _ = self.tx.try_send(Err(error));
    }
}
