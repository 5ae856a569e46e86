//! TEMPORARY stub: replaced by the grammar module.
use std::fmt;
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);
impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
#[derive(Debug, thiserror::Error)]
#[error("bad id {0}")]
#[allow(dead_code)]
pub struct IdError(String);
macro_rules! name { ($t:ident) => {
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct $t(String);
impl $t { pub fn parse(s: &str) -> Result<Self, IdError> { if s.is_empty() { Err(IdError(s.into())) } else { Ok(Self(s.into())) } } pub fn as_str(&self) -> &str { &self.0 } }
impl fmt::Display for $t { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) } }
impl TryFrom<String> for $t { type Error = IdError; fn try_from(s: String) -> Result<Self, IdError> { Self::parse(&s) } }
impl From<$t> for String { fn from(v: $t) -> String { v.0 } }
}}
name!(Namespace);
name!(ResourceName);
name!(RoleName);
