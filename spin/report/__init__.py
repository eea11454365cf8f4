"""Reported numbers, comparison tables, figures and the HTML report (`spin report`,
`spin compare`). Report code only reads JSON that the pipeline stages wrote."""
