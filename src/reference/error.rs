//! Errors as the server answers them: a Frappe exception class and its status
//! (ENV-3), rendered with the foundation's `error_body`.

/// One error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub exc_type: &'static str,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, exc_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            exc_type,
            message: message.into(),
        }
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(401, "AuthenticationError", message)
    }

    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(403, "PermissionError", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "DoesNotExistError", message)
    }

    pub fn duplicate(message: impl Into<String>) -> Self {
        Self::new(409, "DuplicateEntryError", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(417, "ValidationError", message)
    }

    /// A required parameter is missing or empty.
    pub fn mandatory(param: &str) -> Self {
        Self::new(
            417,
            "MandatoryError",
            format!("Missing required parameter: {param}"),
        )
    }

    /// A request that cannot be decoded (malformed encoding or body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn too_large(cap: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("The request body is larger than {cap} bytes"),
        )
    }

    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(429, "TooManyRequestsError", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "Exception", message)
    }

    /// ValidationError or one of its subclasses.
    pub fn is_validation(&self) -> bool {
        self.status == 417
    }
}
