"""signup: session registration behind an embeddable form, on Cloud Functions and Firestore."""
