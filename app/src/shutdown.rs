//! A shutdown signal shared by every role task.

use tokio::sync::watch;

/// Triggers shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Observes shutdown; cheap to clone into every task.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

impl ShutdownTrigger {
    /// Tells every task to stop after its current message.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// True once shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until shutdown is triggered (or its trigger is gone).
    pub async fn wait(&mut self) {
        // An error means the trigger was dropped: treat it as shutdown.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}
