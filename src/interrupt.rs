//! SIGINT/SIGTERM as a value commands can watch. A command that must clean up (a canary)
//! takes interrupts over for as long as it holds the guard; any other command is cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Set by SIGINT/SIGTERM. A command that must clean up (a canary) calls
/// [`Interrupt::take_over`] and watches [`Interrupt::wait`]; every other command is simply
/// cancelled and the process exits 130.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<bool>,
    taken_over: Arc<AtomicBool>,
}

impl Interrupt {
    pub fn new() -> (watch::Sender<bool>, Interrupt) {
        let (tx, rx) = watch::channel(false);
        (
            tx,
            Interrupt {
                rx,
                taken_over: Arc::new(AtomicBool::new(false)),
            },
        )
    }

    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once an interrupt arrived (never, if the sender is gone without one).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The command handles interrupts itself while the returned guard lives (it will return
    /// `Error::Interrupted` after its cleanup); dropping the guard hands them back, so a later
    /// step of the same run (the demo's) is cancelled normally again.
    #[must_use = "interrupts are handed back when the guard is dropped"]
    pub fn take_over(&self) -> InterruptGuard {
        self.taken_over.store(true, Ordering::SeqCst);
        InterruptGuard {
            taken_over: self.taken_over.clone(),
        }
    }

    pub fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::SeqCst)
    }
}

/// Returned by [`Interrupt::take_over`]; hands interrupt handling back when dropped.
pub struct InterruptGuard {
    taken_over: Arc<AtomicBool>,
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        self.taken_over.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_over_lasts_as_long_as_its_guard() {
        let (_tx, interrupt) = Interrupt::new();
        assert!(!interrupt.is_taken_over());
        {
            let _guard = interrupt.take_over();
            assert!(interrupt.clone().is_taken_over(), "shared by clones");
        }
        assert!(!interrupt.is_taken_over(), "released on drop");
    }
}
