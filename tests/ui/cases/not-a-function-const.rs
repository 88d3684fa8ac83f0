use retry_runtime::retry;

#[retry]
pub const MAX_ATTEMPTS: u32 = 3;

fn main() {
    let _ = MAX_ATTEMPTS;
}
