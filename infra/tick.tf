# The sweep's clock: Cloud Scheduler publishes to a topic every few minutes; `notify-tick` takes each message.
# At least once, possibly late or twice: the sweep is safe to run twice and never depends on the exact minute.

resource "google_pubsub_topic" "tick" {
  #checkov:skip=CKV_GCP_83:The ticks carry no data (the payload is the word "tick"); Google-managed encryption suffices.
  name = "signup-tick"

  depends_on = [google_project_service.apis]
}

resource "google_cloud_scheduler_job" "tick" {
  name        = "signup-tick"
  description = "signup: tick notify-tick for the sweep (reminders, waiting list, retries)"
  region      = coalesce(var.scheduler_region, var.region)
  schedule    = var.tick_schedule
  time_zone   = var.tick_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.tick.id
    data       = base64encode("tick")
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_publishes_ticks]
}
