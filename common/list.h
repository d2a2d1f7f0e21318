/*
 * list.h - an intrusive doubly linked list (the worker's connection lists,
 * the upstream keep-alive pools).
 */
#ifndef GH_LIST_H
#define GH_LIST_H

#include <stdbool.h>

/* Intrusive doubly linked list. */
struct gh_link {
    struct gh_link *prev, *next;
};
static inline void gh_list_init(struct gh_link *head) { head->prev = head->next = head; }
static inline bool gh_list_empty(const struct gh_link *head) { return head->next == head; }
static inline void gh_list_insert_tail(struct gh_link *head, struct gh_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}
static inline void gh_list_remove(struct gh_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

#endif
