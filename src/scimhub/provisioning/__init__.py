"""Use cases for Users and Groups, each one `tenant_transaction` (the SCIM rules decide, the store writes).

- `reading`         GET one resource (If-None-Match)
- `listing`         GET a list, POST .search, the root POST /.search
- `writing`         POST, PUT, DELETE (If-Match)
- `patching`        PATCH in every dialect, member changes in SQL
- `representation`  a resource's id, its rendered form and its name in the activity log
- `context`         what a use case is given (`ScimContext`) and answers (`Outcome`)
"""
