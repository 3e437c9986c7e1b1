"""A DHIS2 client that dhis2gw did not write (dhis2.py, from PyPI), pointed at the gateway.

Configured only with the gateway's DHIS2-compatible URL and a partner token, as an
integrator would configure it for a real DHIS2. Each step prints one JSON line for the
Rust test that drives it (server/tests/api/dhis2_api.rs).

    python dhis2py_client.py <base-url> <token> read-and-post
    python dhis2py_client.py <base-url> <token> post-while-down
    python dhis2py_client.py <base-url> <token> wait-for <job-id>
"""

import json
import sys
import time

from dhis2 import Api

DATA_SET, ORG_UNIT, DATA_ELEMENT = "pBOMPrpg1QY", "OrgFac00001", "DeInteger01"


def client(base_url: str, token: str) -> Api:
    api = Api(base_url, "", "")
    # DHIS2 personal access tokens are sent this way; the gateway's partner tokens too.
    api.session.auth = None
    api.session.headers["Authorization"] = f"ApiToken {token}"
    return api


def values(period: str, value: str) -> dict:
    return {"dataSet": DATA_SET, "period": period, "orgUnit": ORG_UNIT,
            "dataValues": [{"dataElement": DATA_ELEMENT, "value": value}]}


def wait_for(api: Api, job: str) -> dict:
    # After an outage the gateway's next attempt may be some seconds away (it backs off while
    # DHIS2 is away), so allow two minutes.
    for _ in range(1200):
        notes = api.get(f"system/tasks/DATAVALUE_IMPORT/{job}").json()
        if notes and notes[0].get("completed"):
            summary = api.get(f"system/taskSummaries/DATAVALUE_IMPORT/{job}").json()
            return {"notes": notes, "summary": summary}
        time.sleep(0.1)
    raise SystemExit(f"job {job} did not complete")


def main() -> None:
    base_url, token, step = sys.argv[1], sys.argv[2], sys.argv[3]
    api = client(base_url, token)
    if step == "read-and-post":
        data_sets = api.get("dataSets", params={"fields": "id,name", "paging": "false"}).json()
        sync = api.post("dataValueSets", json=values("202405", "11")).json()
        started = api.post("dataValueSets", json=values("202406", "12"), params={"async": "true"}).json()
        done = wait_for(api, started["response"]["id"])
        print(json.dumps({"version": api.version, "data_sets": data_sets, "sync": sync, "async": started, **done}))
    elif step == "post-while-down":
        r = api.post("dataValueSets", json=values("202407", "13"))
        print(json.dumps({"status": r.status_code, "body": r.json()}))
    elif step == "wait-for":
        print(json.dumps(wait_for(api, sys.argv[4])))
    else:
        raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    main()
