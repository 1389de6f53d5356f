//! The floor under the pool's dispatch overhead on this machine: its two
//! thread hand-offs with no V8 and no HTTP in between.
//!
//! A caller thread on a current-thread runtime with I/O (as each of the
//! HTTP server's workers is) sends a job over an async channel to a thread
//! blocked on a current-thread runtime (as a pool worker is). That thread
//! keeps its core busy for the render's time, as a render does, while the
//! caller's core idles; then it answers on a oneshot. Between jobs the
//! caller's thread sleeps for the time HTTP took around each render, so
//! both cores idle as long as they do in the measured requests: how long
//! a core has idled decides how long it takes to wake.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Mean milliseconds of the two hand-offs.
pub struct HandOffs {
    /// From sending the job to the worker thread holding it.
    pub over: f64,
    /// From the worker thread answering to the caller holding the answer.
    pub back: f64,
}

/// A job carries only where to answer: when the worker thread took it,
/// and when it answered.
type Job = oneshot::Sender<(Instant, Instant)>;

/// `rounds` hand-offs after 100 unmeasured, around `render` of busy work,
/// `between` apart.
pub fn measure(render: Duration, between: Duration, rounds: usize) -> Result<HandOffs, String> {
    let (jobs, queue) = async_channel::bounded::<Job>(1);
    let worker = std::thread::spawn(move || {
        let runtime = current_thread(false)?;
        while let Ok(reply) = runtime.block_on(queue.recv()) {
            let taken = Instant::now();
            while taken.elapsed() < render {
                std::hint::spin_loop();
            }
            let _ = reply.send((taken, Instant::now()));
        }
        Ok::<(), String>(())
    });
    let runtime = current_thread(true)?;
    let mut over = Vec::with_capacity(rounds);
    let mut back = Vec::with_capacity(rounds);
    for round in 0..100 + rounds {
        std::thread::sleep(between);
        let (reply, answer) = oneshot::channel();
        let sent = Instant::now();
        let (taken, answered) = runtime.block_on(async {
            jobs.send(reply).await.map_err(|e| e.to_string())?;
            answer.await.map_err(|e| e.to_string())
        })?;
        if round >= 100 {
            over.push(taken.duration_since(sent));
            back.push(answered.elapsed());
        }
    }
    drop(jobs);
    worker.join().map_err(|_| "hand-off thread panicked")??;
    let mean_ms =
        |d: &[Duration]| d.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / d.len() as f64;
    Ok(HandOffs {
        over: mean_ms(&over),
        back: mean_ms(&back),
    })
}

fn current_thread(io: bool) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    if io {
        builder.enable_io();
    }
    builder.enable_time().build().map_err(|e| e.to_string())
}
