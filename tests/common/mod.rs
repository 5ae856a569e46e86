pub mod fake_slack;
