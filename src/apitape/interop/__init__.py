"""Other tools' formats: HAR in and out, flow files and HAR imported as cassettes."""
