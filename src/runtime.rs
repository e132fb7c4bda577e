//! The tokio runtimes the kiosk starts: a current-thread runtime for the calling thread, or one on
//! a named thread of its own that runs one task to its end. It owns building them and reporting
//! a runtime that cannot start; it knows nothing of what runs on them.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::Runtime;

/// A current-thread runtime with I/O and timers, for the calling thread.
pub fn current_thread() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Starts a thread named `name` with a current-thread runtime of its own and runs the future
/// `task` makes on it until that future ends. A runtime that cannot start is logged with the
/// thread's name (the thread then ends); a thread that cannot start is the `Err`.
pub fn spawn_on_named_thread<F, Fut>(name: &str, task: F) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let thread = name.to_owned();
    std::thread::Builder::new()
        .name(thread.clone())
        .spawn(move || match current_thread() {
            Ok(runtime) => runtime.block_on(task()),
            Err(error) => tracing::error!(thread, %error, "the thread's runtime cannot start"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_runs_on_its_named_thread_with_timers() {
        let (sent, received) = std::sync::mpsc::channel();
        let handle = spawn_on_named_thread("runtime-test", move || async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let name = std::thread::current().name().map(str::to_owned);
            let _ = sent.send(name);
        })
        .unwrap();
        handle.join().unwrap();
        assert_eq!(received.recv().unwrap().as_deref(), Some("runtime-test"));
    }
}
