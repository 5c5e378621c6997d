export function pageCount(total: number, perPage: number): number {
  return Math.max(1, Math.ceil(total / perPage));
}

export interface PaginationView {
  page: number;
  pageCount: number;
  previous: string | null;
  next: string | null;
  /** Set when the page asked for is past the last one (an old link, a hand-typed address): the way back to the last. */
  pastEnd: { lastPage: number; link: string } | null;
}

/** What views/partials/pagination.ejs shows: the page, the page count, and links to the neighbours. */
export function paginationView(page: number, total: number, perPage: number, linkTo: (page: number) => string): PaginationView {
  const pages = pageCount(total, perPage);
  return {
    page,
    pageCount: pages,
    previous: page > 1 ? linkTo(Math.min(page - 1, pages)) : null,
    next: page < pages ? linkTo(page + 1) : null,
    pastEnd: page > pages ? { lastPage: pages, link: linkTo(pages) } : null,
  };
}
