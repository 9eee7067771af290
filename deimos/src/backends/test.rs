//! The `test` backend: captures messages instead of sending them (Deimos'
//! `Deimos::Backends::Test.sent_messages`).

use std::sync::Mutex;

use super::{ProducedMessage, ProducerBackend};
use crate::error::Result;

/// Captures every produced message in memory, in order.
#[derive(Debug, Default)]
pub struct TestBackend {
    sent: Mutex<Vec<ProducedMessage>>,
}

impl TestBackend {
    /// An empty capture.
    pub fn new() -> Self {
        TestBackend::default()
    }

    /// Everything sent so far, in order.
    pub fn sent_messages(&self) -> Vec<ProducedMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets everything sent so far.
    pub fn clear(&self) {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[async_trait::async_trait]
impl ProducerBackend for TestBackend {
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(messages.iter().cloned());
        Ok(())
    }

    fn as_test(&self) -> Option<&TestBackend> {
        Some(self)
    }
}
