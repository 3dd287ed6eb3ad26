//! Faults a test injects into the next calls of a kind (token endpoint, REST API, result
//! storage, authorize page), typed, with how many calls in a row get them. Each front-end turns a fault
//! into its vendor's answer.

use std::collections::VecDeque;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `POST /oidc/v1/token`.
    Token,
    /// Every `/api/` call.
    Rest,
    /// Downloads of EXTERNAL_LINKS results from the emulated cloud storage.
    Storage,
    /// The authorize page (`GET /oidc/v1/authorize`): a gateway's answer before it.
    Authorize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (429 and 503 get Databricks' error bodies).
    /// `error_code` and `message` replace the defaults, e.g. a 403 "Invalid access token.".
    Status {
        status: u16,
        retry_after: Option<u64>,
        error_code: Option<String>,
        message: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay { ms: u64 },
    /// 200 with a truncated JSON body.
    Malformed,
    /// Drop the connection mid-response.
    Reset,
    /// Answer normally but leave `refresh_token` out (as for an app without offline_access).
    OmitRefreshToken,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FaultRequest {
    pub target: Target,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many calls in a row get the fault.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Typed faults for tests (the control API takes the same as JSON).
impl FaultRequest {
    /// Answer `status` (429 and 503 with Databricks' error bodies).
    pub fn status(target: Target, status: u16) -> Self {
        Self::of(
            target,
            FaultKind::Status {
                status,
                retry_after: None,
                error_code: None,
                message: None,
            },
        )
    }

    /// A 200 with a truncated JSON body.
    pub fn malformed(target: Target) -> Self {
        Self::of(target, FaultKind::Malformed)
    }

    /// The connection dropped mid-response.
    pub fn reset(target: Target) -> Self {
        Self::of(target, FaultKind::Reset)
    }

    /// A delay of `ms` before the normal answer.
    pub fn delay(target: Target, ms: u64) -> Self {
        Self::of(target, FaultKind::Delay { ms })
    }

    /// A token answer without `refresh_token`.
    pub fn omit_refresh_token() -> Self {
        Self::of(Target::Token, FaultKind::OmitRefreshToken)
    }

    fn of(target: Target, kind: FaultKind) -> Self {
        FaultRequest {
            target,
            kind,
            count: 1,
        }
    }

    /// The next `count` calls get the fault.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// A `Retry-After` on a status fault.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(seconds);
        }
        self
    }

    /// The error body of a status fault: Databricks' `error_code` and `message`.
    pub fn body(mut self, code: Option<&str>, text: &str) -> Self {
        if let FaultKind::Status {
            error_code,
            message,
            ..
        } = &mut self.kind
        {
            *error_code = code.map(str::to_owned);
            *message = Some(text.to_owned());
        }
        self
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    queue: VecDeque<FaultRequest>,
}

impl Faults {
    pub fn push(&mut self, f: FaultRequest) {
        self.queue.push_back(f);
    }
    /// Takes one use of the first fault for `target` that `pred` accepts.
    pub fn take_if(
        &mut self,
        target: Target,
        pred: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let pos = self
            .queue
            .iter()
            .position(|f| f.target == target && pred(&f.kind))?;
        let f = self.queue.get_mut(pos)?;
        let kind = f.kind.clone();
        f.count = f.count.saturating_sub(1);
        if f.count == 0 {
            self.queue.remove(pos);
        }
        Some(kind)
    }
}
