"""The local API node: serves version packages on `/public/api/v1/...`, driven through `/admin/api/...`.

Modules: `app` (the Starlette app and its lifespan), `admin` and `user` (routes), `store` (state
on disk), `runtime` (services, mounted generations, in-flight tracking), `mapping` (generations
mappings and dispatch), `pool` and `workers` (worker processes), `worker_main` and
`endpoint_code` (what runs inside a worker), `metrics`, and `shim/` (the `dataiku` modules
endpoint code imports, on the path of worker processes only).
"""
