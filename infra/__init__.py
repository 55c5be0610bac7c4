"""Process infrastructure the components share: the task owner, the retry policy for outbound
requests, the event-loop watchdog."""
