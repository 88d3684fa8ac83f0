use retry_runtime::retry;

#[retry]
fn fetch() {}

#[retry]
fn send() -> () {}

fn main() {
    fetch();
    send();
}
