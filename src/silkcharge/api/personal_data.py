"""Who sees idTokens and emails in clear: the one switch readers of personal data declare.

A reader that shows idTokens or emails (the OCPP message log; analytics carry none) declares
`PersonalData` and passes what it shows through the view it gets: pseudonyms by default
(`domain/pseudonyms.py`), clear values only when the caller asks with ``?personal_data=true``.
Asking needs the personal-data permission; until roles exist, the operator API key has it.
This dependency is where the caller's role will decide.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from silkcharge.domain.pseudonyms import PersonalDataView

CLEAR = Query(
    False, description="show idTokens and emails in clear instead of their pseudonyms "
    "(needs the personal-data permission)")


async def personal_data_view(request: Request, personal_data: bool = CLEAR) -> PersonalDataView:
    return PersonalDataView(request.app.state.platform.pseudonym_key.pseudonyms, clear=personal_data)


PersonalData = Annotated[PersonalDataView, Depends(personal_data_view)]
