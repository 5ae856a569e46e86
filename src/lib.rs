//! jitpe: just-in-time Kubernetes access from chat.
