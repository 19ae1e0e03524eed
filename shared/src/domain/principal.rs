//! Who is asking: the caller a verified token names (`crate::auth` does the verifying).

use serde::Deserialize;

use super::ids::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Organizer,
    Customer,
}

/// The verified caller. The tenant comes from the token and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub tenant_id: TenantId,
    pub role: Role,
}

impl Principal {
    /// Admins and organizers.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Organizer)
    }
}
