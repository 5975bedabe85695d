"""Who sees idTokens and emails in clear: the one switch readers of personal data declare.

A reader that shows idTokens or emails (the OCPP message log; analytics carry none) declares
`PersonalData` and passes what it shows through the view it gets: pseudonyms by default
(`domain/pseudonyms.py`), clear values only when the caller asks with ``?personal_data=true``.
Asking needs the personal-data permission (domain/roles.py): the caller's role decides here,
and a caller without it is refused with a 403 and the reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from silkcharge.domain.pseudonyms import PersonalDataView
from silkcharge.domain.roles import PERSONAL_DATA

CLEAR = Query(
    False, description="show idTokens and emails in clear instead of their pseudonyms "
    "(needs the personal-data permission)")


async def personal_data_view(request: Request, personal_data: bool = CLEAR) -> PersonalDataView:
    who = getattr(request.state, "principal", None)  # set by api/principals.py
    if personal_data and (who is None or PERSONAL_DATA not in who.permissions):
        role = who.role.value if who is not None else "caller"
        raise HTTPException(403, f"the role {role} may not see personal data in clear "
                                 f"(it needs {PERSONAL_DATA})")
    return PersonalDataView(request.app.state.platform.pseudonym_key.pseudonyms, clear=personal_data)


PersonalData = Annotated[PersonalDataView, Depends(personal_data_view)]
