/** Kafka topic names: up to 249 characters of [a-zA-Z0-9._-]. Shared by the API and the log. */
export const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
