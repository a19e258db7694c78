-- The twelve months of a year, for reports that must show months without data.
select
    month_number,
    month_name

from (
    values
        (1, 'January'), (2, 'February'), (3, 'March'), (4, 'April'),
        (5, 'May'), (6, 'June'), (7, 'July'), (8, 'August'),
        (9, 'September'), (10, 'October'), (11, 'November'), (12, 'December')
) as months (month_number, month_name)
