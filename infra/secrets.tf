# SIGNING_KEY and SMTP_PASSWORD live in Secret Manager, in the functions' region. The values are written
# through write-only arguments: never in a plan or the state. Each function gets only the secrets it reads,
# as secret environment variables pinned to the version written here (functions.tf).

resource "google_secret_manager_secret" "signing_key" {
  secret_id = "signup-signing-key"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "signing_key" {
  secret                 = google_secret_manager_secret.signing_key.id
  secret_data_wo         = var.signing_key
  secret_data_wo_version = var.signing_key_version

  # A new version exists before the functions move to it and the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "smtp_password" {
  secret_id = "signup-smtp-password"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "smtp_password" {
  secret                 = google_secret_manager_secret.smtp_password.id
  secret_data_wo         = var.smtp_password
  secret_data_wo_version = var.smtp_password_version

  # A new version exists before the functions move to it and the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "turnstile_secret_key" {
  secret_id = "signup-turnstile-secret-key"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "turnstile_secret_key" {
  secret                 = google_secret_manager_secret.turnstile_secret_key.id
  secret_data_wo         = var.turnstile_secret_key
  secret_data_wo_version = var.turnstile_secret_key_version

  # A new version exists before the functions move to it and the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}
