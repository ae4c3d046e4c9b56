/** The content type of the Prometheus text format that `WorkerHandle.metrics()` renders. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
